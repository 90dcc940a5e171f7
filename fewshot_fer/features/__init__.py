"""What is done to a trained model's features at test time, apart from training: embedding
faces in batches (``embedding``) and centring on the training faces' mean feature (``centring``)."""

from pathlib import Path

from setuptools import find_packages, setup

setup(
    name="fewshot-fer",
    version="0.1.0",
    description="Few-shot facial expression recognition: episodic sampling, learners, benchmarks.",
    long_description=Path(__file__).with_name("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["episodes", "episodes.*", "fewshot_fer", "fewshot_fer.*"]),
    install_requires=[
        "torch>=2.1",
        "torchvision>=0.16",
        "timm>=0.9",
        "tqdm>=4.60",
        "tensorboard>=2.10",
        "PyYAML>=6.0",
        "numpy>=1.23",
        "Pillow>=9.0",
        "matplotlib>=3.5",  # the charts of runs and evaluations (PNG + SVG)
        "safetensors>=0.3",  # weights files (--pretrained, export)
    ],
    # OpenCV 5 dropped cv2.CascadeClassifier and the bundled Haar cascade files (moved to
    # opencv-contrib), which --face-detector haar (the default) needs: a known break, so bounded.
    # facenet-pytorch (--face-detector mtcnn; MTCNN's weights ship in its wheel): 2.6.0 pins
    # torch<2.3 and would downgrade torch, a known break, so excluded; 2.5.3 runs on current torch.
    # the shipped model (fewshot_fer/models/pretrained/: its card, config.json and weights) is in
    # the wheel, so predict, export, demo and load_pretrained() work offline right after install
    package_data={"fewshot_fer": ["models/pretrained/*.md", "models/pretrained/*/*.json",
                                  "models/pretrained/*/*.safetensors"]},
    entry_points={"console_scripts": ["fewshot-fer = fewshot_fer.__main__:console"]},
    extras_require={
        # pytest-xdist: the default suite runs in two worker processes (pytest.ini)
        # hypothesis: the fault suite's generated config.json, episodes, YAML and CSV inputs
        # mkdocs: the documentation is built in strict mode by a test
        "test": ["pytest>=7.0", "pytest-xdist>=3.0", "opencv-python-headless>=4.5,<5", "facenet-pytorch>=2.5.3,!=2.6.*",
                 "hypothesis>=6.0", "mkdocs>=1.5", "onnx>=1.14", "onnxruntime>=1.16",
                 "gradio>=4.0", "playwright>=1.40"],
        "video": ["opencv-python-headless>=4.5,<5", "facenet-pytorch>=2.5.3,!=2.6.*"],
        "docs": ["mkdocs>=1.5"],
        "plots": [],  # matplotlib is a plain dependency now; the extra stays so that old commands still install
        # only benchmarks/speed.py needs it: the toolkit fewshot-fer is measured against
        "bench": ["easyfsl>=1.5"],
        # export --format onnx writes the graph with onnx; onnxruntime runs it (tests, deployment)
        "onnx": ["onnx>=1.14", "onnxruntime>=1.16"],
        # fewshot-fer demo: the local page; Haar face detection needs OpenCV
        "demo": ["gradio>=4.0", "opencv-python-headless>=4.5,<5"],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "Topic :: Scientific/Engineering :: Image Recognition",
    ],
)

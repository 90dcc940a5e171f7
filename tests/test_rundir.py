"""The run directory's records: the commit a run names."""
import subprocess

from fewshot_fer.training.rundir import git_commit


def test_git_commit_ignores_the_harness_tables_but_not_code(tmp_path):
    """The harness rewrites benchmarks/results/ while it trains: a training started then is still
    on the committed code (no ``-dirty``); a changed source file is reported."""
    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path,
                       check=True, capture_output=True)

    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "benchmarks" / "results" / "table.md").write_text("old\n")
    (tmp_path / "pkg" / "code.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-qm", "first")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    (tmp_path / "benchmarks" / "results" / "table.md").write_text("partial table\n")
    assert git_commit(tmp_path / "pkg") == head
    (tmp_path / "pkg" / "code.py").write_text("x = 2\n")
    assert git_commit(tmp_path / "pkg") == head + "-dirty"

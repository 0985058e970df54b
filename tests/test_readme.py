"""The README's two set-up commands are the ones CI and users run."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bash_blocks(path: Path = ROOT / "README.md") -> list[str]:
    return re.findall(r"```bash\n(.*?)```", path.read_text(), flags=re.S)


def test_ci_runs_exactly_the_readme_test_command():
    test_command = next(line for block in bash_blocks() for line in block.splitlines() if "pytest" in line)
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command.strip() in ci_lines
    torch_pin = ci_lines.index(next(line for line in ci_lines if "torch==2.13.0" in line))
    assert torch_pin < ci_lines.index(test_command.strip())


def test_demo_command_runs_a_sample_scene_that_exists():
    demo = next(line for block in bash_blocks() for line in block.splitlines() if "geotrans run" in line)
    scene = re.search(r"geotrans run (\S+)", demo).group(1)
    assert (ROOT / scene).is_file()

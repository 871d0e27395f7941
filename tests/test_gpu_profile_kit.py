"""tools/gpu_profile.py: chapters as timed scripts for a GPU machine without Jupyter."""
import importlib.util
import json
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("gpu_profile", ROOT / "tools" / "gpu_profile.py")
kit_tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(kit_tool)


def notebook(path: Path, *cells: tuple[str, str]) -> Path:
    nb = {"cells": [{"cell_type": t, "source": s, "metadata": {}} for t, s in cells],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))
    return path


def test_script_keeps_code_cells_in_order_and_finds_the_data(tmp_path):
    nb = notebook(tmp_path / "01_x.ipynb", ("markdown", "# a title, fashion"),
                  ("code", "a = 1"), ("code", "x = gm.data.load_usps()\nb = a + 1"))
    script, needs = kit_tool.to_script(nb)
    assert needs == {"usps"}  # the prose's "fashion" is not code
    assert script.index("_cell(1)\na = 1") < script.index("_cell(2)\nx = gm.data") < script.index("_cell(3)")
    compile(script, "01_x.py", "exec")
    with pytest.raises(SystemExit, match="magics"):
        kit_tool.to_script(notebook(tmp_path / "02_y.ipynb", ("code", "!pip install foo")))


def test_run_times_cells_saves_figures_and_names_the_failing_cell(tmp_path):
    kit = tmp_path / "kit"
    (kit / "scripts").mkdir(parents=True)
    good = notebook(tmp_path / "01_good.ipynb", ("code", "import matplotlib.pyplot as plt\nimport time"),
                    ("code", "time.sleep(0.3)\nplt.plot([0, 1])\nplt.show()"),
                    ("code", "from IPython.display import Markdown, display\n"
                             "display(Markdown('| a |'))\nprint('done')"))
    bad = notebook(tmp_path / "02_bad.ipynb", ("code", "x = 1"), ("markdown", "text"),
                   ("code", "raise RuntimeError('broken on purpose')"), ("code", "y = 2"))
    for nb in (good, bad):
        (kit / "scripts" / f"{nb.stem}.py").write_text(kit_tool.to_script(nb)[0])
    out = tmp_path / "out"
    summary = kit_tool.run(out, jobs=2, kit=kit)
    ok, failed = summary["chapters"]["01_good"], summary["chapters"]["02_bad"]
    assert ok["status"] == "ok" and failed["status"].startswith("failed")
    assert dict(ok["slowest_cells"])[1] >= 0.3  # cell 1 slept
    assert failed["failed_in_cell"] == 2 and "broken on purpose" in failed["tail"]
    assert json.loads((out / "results.json").read_text()) == summary
    assert sorted(p.name for p in out.iterdir()) == ["outputs.tar.gz", "results.json"]
    with tarfile.open(out / "outputs.tar.gz") as tar:
        names = tar.getnames()
        log = tar.extractfile("logs/01_good.log").read().decode()
    assert "figures/01_good_fig01.png" in names and "logs/02_bad.log" in names
    assert "| a |" in log and "done" in log


def test_prepare_copies_only_the_data_the_chapters_read(tmp_path):
    data = tmp_path / "data"
    for dataset in ("mnist", "fashion"):
        for rel in kit_tool.DATA_FILES[dataset]:
            (data / rel).parent.mkdir(parents=True, exist_ok=True)
            (data / rel).write_bytes(b"x")
    kit = tmp_path / "kit"
    info = kit_tool.prepare(["00"], data, kit=kit)
    assert info["scripts"] == ["00_tour.py"] and "fashion" not in info["data"]
    assert not (kit / "data" / "FashionMNIST").exists()
    for rel in (kit_tool.DATA_FILES["mnist"] if "mnist" in info["data"] else []):
        assert (kit / "data" / rel).read_bytes() == b"x"
    with pytest.raises(SystemExit, match="no single notebook"):
        kit_tool.prepare(["99"], data, kit=kit)
    with pytest.raises(SystemExit, match="GENMODELS_DATA"):
        kit_tool.prepare(["06"], data, kit=kit)  # facades and USPS are not in this folder

"""``python -m genmodels_course shipped``: the table of the shipped models (``gm.weights.table``);
``python -m genmodels_course shipped --readme`` writes it into ``genmodels_course/shipped/README.md``."""
import sys

from . import weights

if sys.argv[1:2] != ["shipped"] or sys.argv[2:] not in ([], ["--readme"]):
    sys.exit("usage: python -m genmodels_course shipped [--readme]")
if sys.argv[2:] == ["--readme"]:
    path = weights.SHIPPED / "README.md"
    path.write_text(weights.readme_with_table(path.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote the table into {path}")
else:
    print(weights.table(), end="")

"""`python tools/beam_index.py --input ... --output ...` == `clipindex index ...`.

For schedulers (Airflow's BeamRunPythonPipelineOperator) that run a Python file with
`--option=value` flags and cannot pass a sub-command.
"""

import sys

from pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main(["index", *[arg for arg in sys.argv[1:] if arg != "--runner=DirectRunner"]]))

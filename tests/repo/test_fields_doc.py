"""docs/fields.md documents every column of every table, and is what tools/fields_doc.py writes."""

import os
import subprocess
import sys

from schemas import CLIPS_SCHEMA, DISCREPANCY_SCHEMA, ERRORS_SCHEMA, FRAMES_SCHEMA, SAMPLES_SCHEMA
from schemas.descriptions import TABLES
from tests.support.runs import REPO


def test_every_column_has_a_sentence():
    for table, schema in (("clips", CLIPS_SCHEMA), ("frames", FRAMES_SCHEMA), ("samples", SAMPLES_SCHEMA),
                          ("errors", ERRORS_SCHEMA), ("reconcile/discrepancies", DISCREPANCY_SCHEMA)):
        undocumented = [f.name for f in schema if not TABLES[table].get(f.name)]
        assert not undocumented, f"{table}: describe {undocumented} in schemas/descriptions.py"
        assert set(TABLES[table]) == set(schema.names), f"{table}: a described column is not in the schema"


def test_fields_md_is_generated_from_the_schemas():
    check = subprocess.run([sys.executable, os.path.join(REPO, "tools", "fields_doc.py"), "--check"])
    assert check.returncode == 0, "docs/fields.md is stale: run `python tools/fields_doc.py`"

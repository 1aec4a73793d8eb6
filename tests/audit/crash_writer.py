"""A bulk writer to be killed: submits batches of cases through the real submission service
(engine decision, then cases, decisions, review items and audit events in one transaction per
batch) and prints each committed batch's decision ids (one JSON line, flushed) only after the commit.

Run: python -m tests.audit.crash_writer DATABASE_URL RUN_ID [BATCH_SIZE]
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import pandas as pd
from sqlalchemy import select

from decision_review.api.deps import Database
from decision_review.cases.service import submit_cases
from decision_review.modeling.registry import ModelRegistry
from decision_review.policies.service import publish
from decision_review.policy import read_policy
from decision_review.products.service import ProductCatalog, live_products
from decision_review.settings import Settings
from decision_review.store.tables import Case, Decision

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = "german_credit"


def main(url: str, run: str, batch_size: int) -> None:
    settings = Settings(database_url=url, models_dir=ROOT / "models", policies_dir=ROOT / "policies")
    db = Database(url, pool_size=2)
    registry = ModelRegistry(settings.models_dir)
    with db.write() as session:  # the product line's policy, published once (its own event)
        if not live_products(session):
            publish(session, (ROOT / "policies" / f"{PRODUCT}.yaml").read_text(), registry, actor="system")
    catalog = ProductCatalog(registry, settings)
    with db.read() as session:
        live = catalog.live(session, PRODUCT)
    spec = read_policy(ROOT / "policies" / f"{PRODUCT}.yaml").spec
    templates = [dict(g.case) for g in spec.golden_cases]
    for batch in itertools.count():
        ids = [f"{run}-{batch}-{i}" for i in range(batch_size)]
        records = [{"case_id": case_id, **templates[i % len(templates)]} for i, case_id in enumerate(ids)]
        submit_cases(db, live, pd.DataFrame(records), actor="crash-writer", chunk_size=batch_size)
        with db.read() as session:
            decision_ids = session.scalars(
                select(Decision.id).join(Case, Case.id == Decision.case_pk).where(Case.case_id.in_(ids))
            ).all()
        print(json.dumps({"batch": batch, "decision_ids": sorted(decision_ids)}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 200)

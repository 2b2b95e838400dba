"""The generated service as a whole: shared models, the ORCHESTRATOR's steps, installing it, running it, HTTP, names."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agents.lib.codegen.builder import build_node_specs
from agents.lib.codegen.generator import CodeGenerator
from agents.lib.codegen.spec import EntitySpec, FieldSpec, NodeSpec, OperationSpec, PortSpec, StepSpec
from agents.lib.codegen.step_plan import retry_statements, step_action
from agents.lib.codegen.verify import verify_generated
from agents.lib.prd_analyzer import analyze_prd
from tests.codegen.conftest import COMMON, compute_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "prd"
APP = "marketplace_seller_payouts"
MODELS = "marketplace_seller_payouts_models"


def _generate(specs: list[NodeSpec], out: Path) -> Path:
    generator = CodeGenerator()
    for spec in specs:
        generator.generate_node(spec, out)
    generator.close()
    return out


@pytest.fixture(scope="module")
def payouts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The four-node service of marketplace_payouts.md, generated once for this module (copy it to change it)."""
    specs = build_node_specs(analyze_prd(EXAMPLES / "marketplace_payouts.md"))
    return _generate(specs, tmp_path_factory.mktemp("payouts") / "svc")


def _python(root: Path, code: str, *, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with the service first on its path (as the service's tests do)."""
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd or root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_every_node_uses_the_one_shared_entity_class(payouts: Path) -> None:
    done = _python(
        payouts,
        "import node_marketplace_seller_payouts_effect.models as e, node_marketplace_seller_payouts_compute.models as c\n"
        "import node_marketplace_seller_payouts_orchestrator.models as o\n"
        f"from {MODELS} import Payout, Sale\n"
        "assert e.Sale is c.Sale is Sale and e.Payout is c.Payout is o.Payout is Payout\n"
        "print(Sale.__module__, Payout.__module__)",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [f"{MODELS}.sale", f"{MODELS}.payout"]
    assert not any("class Sale" in p.read_text() for p in payouts.glob("node_*/models.py"))


def test_the_service_verifies_and_its_composed_test_type_checks(payouts: Path, tmp_path: Path) -> None:
    copy = tmp_path / "svc"
    shutil.copytree(payouts, copy)
    report = verify_generated(copy, packages=[APP])
    assert report.passed, report.summary()
    assert report.packages == (APP,)
    assert report.check("mypy").passed
    tests = (copy / APP / "tests" / "test_service.py").read_text()
    assert "record = service.compute.validate_sale(" in tests
    assert "created = run(service.effect.create_sale(record))" in tests
    assert "def test_the_orchestrator_runs_through_the_wired_nodes" in tests


def test_a_type_error_across_nodes_fails_mypy(payouts: Path, tmp_path: Path) -> None:
    """A Payout given where a Sale is expected, across two node packages, is what the shared models catch."""
    copy = tmp_path / "svc"
    shutil.copytree(payouts, copy)
    test = copy / APP / "tests" / "test_service.py"
    text = test.read_text()
    text += (
        "\n\ndef test_wrong_entity() -> None:\n"
        "    service = build_service()\n"
        "    payout = service.compute.validate_payout({})\n"
        "    run(service.effect.create_sale(payout))\n"
    )
    test.write_text(text)
    report = verify_generated(copy, packages=[APP])
    assert not report.check("mypy").passed
    assert any(
        '"create_sale" of "NodeMarketplaceSellerPayoutsEffect" has incompatible type "Payout"' in p
        for p in report.check("mypy").problems
    ), report.check("mypy").problems


def test_the_orchestrator_follows_the_prds_retry_policy_and_calls_the_effect(payouts: Path) -> None:
    contract = yaml.safe_load(
        (payouts / "node_marketplace_seller_payouts_orchestrator" / "contract.yaml").read_text()
    )
    steps = {s["name"]: s for s in contract["steps"]}
    assert steps["send_bank_transfer_file"]["attempts"] == 4  # FR-8: retries the transfer step three times
    assert "retries the transfer step three times" in steps["send_bank_transfer_file"]["policy_source"]
    assert "attempts" not in steps["close_week"]  # no stated policy: the node's default
    assert (steps["create_payouts"]["action"], steps["create_payouts"]["entity"]) == ("create", "Payout")
    assert [h["name"] for h in contract["hooks"]] == [
        "step_close_week",
        "step_compute_seller_balance",
        "step_send_bank_transfer_file",
        "step_notify_seller",
    ]
    node = (payouts / "node_marketplace_seller_payouts_orchestrator" / "node.py").read_text()
    assert "StepPolicy(\n        attempts=4, backoff_seconds=0.5, timeout_seconds=30.0\n    )" in node
    assert (
        "await effect.create_payout(Payout.model_validate(data), idempotency_key=context.idempotency_key)" in node
    )
    interfaces = (payouts / "node_marketplace_seller_payouts_orchestrator" / "interfaces.py").read_text()
    assert "class EffectNode(Protocol):" in interfaces


def test_each_step_of_order_fulfilment_is_retried_three_times() -> None:
    specs = build_node_specs(analyze_prd(EXAMPLES / "order_fulfilment.md"))
    orchestrator = next(s for s in specs if s.node_type == "ORCHESTRATOR")
    assert {s.name: s.attempts for s in orchestrator.steps} == {
        "validate_order": 4,
        "reserve_stock": 4,
        "charge_payment": 4,
        "book_shipment": 4,
        "notify_customer": 4,
    }
    assert all(s.action == "hook" for s in orchestrator.steps)  # no COMPUTE node: validate_order stays a hook


@pytest.mark.parametrize(
    ("sentence", "attempts"),
    [
        ("The workflow retries the transfer step three times with backoff.", 4),
        ("Each step is retried up to 3 times with exponential backoff.", 4),
        ("A failed call is retried once.", 2),
        ("Retry twice, then give up.", 3),
        ("Retries: at most 5 attempts in all.", 5),
    ],
)
def test_retry_statements_give_attempts(sentence: str, attempts: int) -> None:
    analysis = analyze_prd(f"# Shop\n\n## Requirements\n\n- The shop stores orders in PostgreSQL.\n- {sentence}\n")
    assert [found for _, found in retry_statements(analysis)] == [attempts]


def test_step_actions_need_the_node_and_the_entity() -> None:
    payout = EntitySpec(name="Payout", fields=(FieldSpec(name="amount", type="decimal"),))
    assert step_action("create_payouts", [payout], ["EFFECT"]) == ("create", payout)
    assert step_action("record_payout", [payout], ["EFFECT"]) == ("create", payout)
    assert step_action("validate_payout", [payout], ["EFFECT", "COMPUTE"]) == ("validate", payout)
    assert step_action("validate_payout", [payout], ["EFFECT"]) == ("hook", None)
    assert step_action("create_invoice", [payout], ["EFFECT"]) == ("hook", None)
    assert step_action("send_payout", [payout], ["EFFECT"]) == ("hook", None)


def test_renamed_fields_keep_their_wire_name(tmp_path: Path) -> None:
    entity = EntitySpec(
        name="Form",
        fields=(
            FieldSpec(name="validate_", alias="validate"),
            FieldSpec(name="schema_", type="int", required=False, alias="schema"),
            FieldSpec(name="title"),
        ),
    )
    effect = NodeSpec(
        node_type="EFFECT",
        entities=(entity,),
        operations=tuple(
            OperationSpec(name=f"{verb}_form", kind=kind, entity="Form")  # type: ignore[arg-type]
            for kind, verb in (("create", "create"), ("read", "get"), ("update", "update"))
        ),
        ports=(PortSpec(kind="record_store", system="PostgreSQL"),),
        mixins=("MixinRetry", "MixinCircuitBreaker"),
        **COMMON,
    )
    compute = compute_spec().model_copy(
        update={
            "entities": (entity,),
            "operations": (OperationSpec(name="validate_form", kind="validate", entity="Form"),),
            "hooks": (),
        }
    )
    out = _generate([effect, compute], tmp_path / "svc")
    report = verify_generated(out)
    assert report.passed, report.summary()
    done = _python(
        out,
        "from library_loans_models import Form, FormUpdate\n"
        "form = Form.model_validate({'id': 'f', 'validate': 'v', 'schema': 2, 'title': 't'})\n"
        "assert (form.validate_, form.schema_) == ('v', 2)\n"
        "assert Form(id='f', validate_='v', title='t').validate_ == 'v'\n"
        "assert FormUpdate(schema_=3).model_dump(by_alias=True, exclude_unset=True) == {'schema': 3}\n"
        "print(sorted(form.model_dump(mode='json', by_alias=True)))",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['id', 'schema', 'title', 'validate']"
    contract = yaml.safe_load((out / "node_library_loans_effect" / "contract.yaml").read_text())
    assert contract["entities"][0]["fields"][0] == {
        "name": "validate_",
        "type": "str",
        "required": True,
        "alias": "validate",
    }


def test_step_names_with_acronyms_are_not_split(tmp_path: Path) -> None:
    spec = NodeSpec(
        node_type="ORCHESTRATOR",
        steps=(StepSpec(name="run_e2e_tests"), StepSpec(name="send_urls", depends_on=("run_e2e_tests",))),
        operations=(OperationSpec(name="run", kind="coordinate"),),
        **COMMON,
    )
    out = _generate([spec], tmp_path / "svc")
    package = out / spec.package_name
    enums = (package / "enums.py").read_text()
    assert 'RUN_E2E_TESTS = "run_e2e_tests"' in enums
    assert 'SEND_URLS = "send_urls"' in enums
    assert "async def step_run_e2e_tests(self, context: StepContext) -> Any:" in (package / "node.py").read_text()
    assert verify_generated(out).passed


def test_pip_install_gives_an_installed_service_and_its_command(payouts: Path, tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(payouts, source)
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-build-isolation", "--no-deps", "--no-index",
         "--target", str(target), str(source)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    installed = sorted(p.name for p in target.iterdir() if not p.name.endswith(".dist-info") and p.name != "bin")
    assert installed == sorted(
        [
            APP,
            MODELS,
            "node_marketplace_seller_payouts_compute",
            "node_marketplace_seller_payouts_effect",
            "node_marketplace_seller_payouts_orchestrator",
            "node_marketplace_seller_payouts_reducer",
            "onex_runtime",
        ]
    )
    assert (target / "node_marketplace_seller_payouts_effect" / "contract.yaml").is_file()
    assert (target / "onex_runtime" / "py.typed").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    for command in ([sys.executable, "-m", APP], [sys.executable, str(target / "bin" / APP.replace("_", "-"))]):
        done = subprocess.run(
            command, cwd=elsewhere, env=env, capture_output=True, text=True, check=False, timeout=60
        )
        assert done.returncode == 0, done.stderr
        described = json.loads(done.stdout)
        assert described["service"] == "MarketplaceSellerPayouts"
        assert [n["type"] for n in described["nodes"]] == ["COMPUTE", "EFFECT", "ORCHESTRATOR", "REDUCER"]
        assert described["ports"] == ["http_client", "notifier", "record_store"]


HTTP_SCRIPT = """
import json
from fastapi.testclient import TestClient
from marketplace_seller_payouts.http import create_app

client = TestClient(create_app())
document = client.get("/openapi.json").json()
sale = {"id": "s-1", "sale_id": "00000000-0000-0000-0000-000000000001",
        "seller_id": "00000000-0000-0000-0000-000000000002", "gross_amount": "12.50", "currency": "EUR",
        "sold_at": "2025-01-15T09:30:00Z"}
steps = [
    client.post("/sales", json=sale).status_code,
    client.get("/sales/s-1").json() == sale,
    client.patch("/sales/s-1", json={"currency": "USD"}).json()["currency"],
    client.post("/sales/validate", json={**sale, "gross_amount": "-1"}).status_code,
    client.delete("/sales/s-1").status_code,
    client.get("/sales/s-1").json()["code"],
    client.post("/fold", json=[{"event": "to_approved"}]).json()["status"],
    client.post("/runs/r-1", json={}).json()["code"],
]
print(json.dumps({"paths": sorted(document["paths"]), "steps": steps}))
"""


def test_http_layer_serves_openapi_and_a_crud_round_trip(payouts: Path) -> None:
    pytest.importorskip("fastapi")  # the project's test extra installs it: this never skips under `make test`
    done = _python(payouts, HTTP_SCRIPT)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["paths"] == [
        "/fold",
        "/health",
        "/payouts",
        "/payouts/validate",
        "/payouts/{record_id}",
        "/runs/{run_id}",
        "/sales",
        "/sales/validate",
        "/sales/{record_id}",
    ]
    assert result["steps"] == [201, True, "USD", 422, 204, "NOT_FOUND", "approved", "STEP_FAILED"]
    openapi = _python(payouts, f"import sys; from {APP}.__main__ import main; sys.exit(main(['openapi']))")
    assert openapi.returncode == 0, openapi.stderr
    schemas = json.loads(openapi.stdout)["components"]["schemas"]
    sale = schemas.get("Sale") or schemas["Sale-Input"]  # FastAPI names input and output schemas apart
    assert sale["required"] == [
        "id",
        "sale_id",
        "seller_id",
        "gross_amount",
        "currency",
        "sold_at",
    ]


def test_without_the_extras_their_tests_skip_and_the_rest_pass(payouts: Path, tmp_path: Path) -> None:
    """The service's bare test run: FastAPI, httpx and SQLAlchemy made unimportable, as where they are absent."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\nfor name in ('fastapi', 'httpx', 'sqlalchemy', 'uvicorn'):\n    sys.modules[name] = None\n"
    )
    copy = tmp_path / "svc"
    shutil.copytree(payouts, copy)
    env = {**os.environ, "PYTHONPATH": f"{blocker}{os.pathsep}{copy}", "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:asyncio", "-p", "no:xdist", "-p", "no:timeout"],
        cwd=copy, env=env, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    assert "could not import 'fastapi'" in done.stdout
    assert "could not import 'sqlalchemy'" in done.stdout
    assert done.stdout.strip().splitlines()[-1].startswith("64 passed, 3 skipped")
    openapi = subprocess.run(
        [sys.executable, "-m", APP, "openapi"], cwd=copy, env=env, capture_output=True, text=True, check=False
    )
    assert openapi.returncode == 2
    assert openapi.stderr.strip() == "fastapi is not installed: pip install 'marketplace-seller-payouts[http]'"

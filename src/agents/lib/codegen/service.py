"""The service-level render context: the shared models, the composition root and the HTTP API of a service.

Computed from the contracts of the nodes present in the service directory (each node's generation re-renders
the shared files), so the shared packages always match the nodes that exist. docs/codegen.md ("The generated
service") describes the layout.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from graphlib import TopologicalSorter
from typing import Any

from agents.lib.codegen.context import ADAPTERS, entity_context
from agents.lib.codegen.contract import ContractEntity
from agents.lib.codegen.engine import pyrepr
from agents.lib.codegen.spec import EntitySpec, OperationSpec, app_package_name, models_package_name

__all__ = ["service_context", "service_entities"]

_STEP_NODES = {"validate": "COMPUTE", "create": "EFFECT"}


def service_entities(contracts: Iterable[Mapping[str, Any]]) -> list[EntitySpec]:
    """Return every entity the nodes use, once each (the first contract, by package name, that lists it wins)."""
    found: dict[str, EntitySpec] = {}
    for contract in sorted(contracts, key=lambda c: str(c["name"])):
        for entry in contract.get("entities", ()):
            entity = ContractEntity.model_validate(entry)
            found.setdefault(entity.name, entity)
    return [found[name] for name in sorted(found)]


def _operations(contract: Mapping[str, Any]) -> list[OperationSpec]:
    return [OperationSpec(name=o["name"], kind=o["kind"], entity=o.get("entity")) for o in contract["operations"]]


def service_context(service_name: str, contracts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Return what the service-level templates see, from the nodes' ``contracts``."""
    ordered = sorted(contracts, key=lambda c: str(c["name"]))
    entities = service_entities(ordered)
    by_name = {e.name: e for e in entities}
    counts: dict[str, int] = {}
    for contract in ordered:
        counts[contract["node_type"]] = counts.get(contract["node_type"], 0) + 1
    nodes: list[dict[str, Any]] = []
    first: dict[str, dict[str, Any]] = {}
    for contract in ordered:
        node_type = str(contract["node_type"])
        attribute = node_type.lower() if counts[node_type] == 1 else f"{node_type.lower()}_{contract['domain']}"
        node: dict[str, Any] = {
            "node_type": node_type,
            "package": contract["name"],
            "class_name": contract["class_name"],
            "attribute": attribute,
            "route_prefix": "",
        }
        operations = _operations(contract)
        own = [by_name[e["name"]] for e in contract.get("entities", ()) if e["name"] in by_name]
        if node_type == "EFFECT":
            crud = [entity_context(e, operations) for e in own]
            # the entities that can be created and read first: the HTTP round trip test uses the first one
            node["crud"] = sorted(crud, key=lambda e: not (e["ops"].create and e["ops"].read))
        elif node_type == "COMPUTE":
            node["validates"] = [
                {"operation": o.name, "name": o.entity, "plural": by_name[o.entity].plural}
                for o in operations
                if o.kind == "validate" and o.entity in by_name
            ]
        elif node_type == "REDUCER":
            node["event_model"] = f"{contract['service']}Event"
            node["state_model"] = f"{contract['service']}State"
        nodes.append(node)
        first.setdefault(node_type, node)
    for node, contract in zip(nodes, ordered, strict=True):
        if node["node_type"] == "ORCHESTRATOR":
            node.update(_orchestrator(contract, first, by_name))
    ports: dict[str, dict[str, str]] = {}
    for contract in ordered:
        if contract["node_type"] == "EFFECT":
            for port in contract["ports"]:
                kind = str(port["kind"])
                ports.setdefault(kind, {"kind": kind, "key": kind.upper(), "adapter": ADAPTERS[kind]})
    port_list = [ports[k] for k in sorted(ports)]
    effect, compute = first.get("EFFECT"), first.get("COMPUTE")
    composed = []
    if effect is not None and compute is not None:
        validates = {v["name"]: v["operation"] for v in compute["validates"]}
        for e in effect["crud"]:
            if e["ops"].create and e["ops"].read and e["name"] in validates:
                composed.append(
                    {
                        "snake": e["snake"],
                        "valid_json": pyrepr(e["valid_json"]),
                        "effect": effect["attribute"],
                        "compute": compute["attribute"],
                        "create": e["ops"].create,
                        "read": e["ops"].read,
                        "validate": validates[e["name"]],
                    }
                )
    app = app_package_name(service_name)
    models = models_package_name(service_name)
    descriptions = [str(c.get("description", "")) for c in ordered if c.get("description")]
    return {
        "service": service_name,
        "app": app,
        "models": models,
        "project": app.replace("_", "-"),
        "description": descriptions[0] if descriptions else "",
        "nodes": nodes,
        "http_nodes": list(first.values()),
        "entities": [entity_context(e) for e in entities],
        "ports": port_list,
        "port_imports": sorted(
            [p["key"] for p in port_list]
            + [p["adapter"] for p in port_list]
            + ["RUN_JOURNAL", "InMemoryRunJournal"]
        ),
        "first_effect": effect
        if effect is not None
        and effect["crud"]
        and effect["crud"][0]["ops"].create
        and effect["crud"][0]["ops"].read
        else None,
        "composed": composed,
        "orchestrator": first.get("ORCHESTRATOR"),
        "secured": any("MixinSecurity" in c.get("mixins", ()) for c in ordered),
        "first_party": sorted({"onex_runtime", app, models, *(str(c["name"]) for c in ordered)}),
    }


def _round_trips(effect: Mapping[str, Any]) -> bool:
    """Whether the EFFECT node's first entity can be created and read (what the HTTP round trip test needs)."""
    return bool(effect["crud"]) and bool(effect["crud"][0]["ops"].create and effect["crud"][0]["ops"].read)


def _orchestrator(
    contract: Mapping[str, Any], first: Mapping[str, Mapping[str, Any]], entities: Mapping[str, EntitySpec]
) -> dict[str, Any]:
    steps = contract.get("steps") or []
    order = list(TopologicalSorter({s["name"]: list(s["depends_on"]) for s in steps}).static_order())
    collaborators = []
    for action, node_type in _STEP_NODES.items():
        if any(s.get("action") == action for s in steps) and node_type in first:
            collaborators.append({"attribute": node_type.lower(), "node": first[node_type]["attribute"]})
    wired = {c["attribute"] for c in collaborators}
    mapped = [
        s["name"] for s in steps if s.get("action") in _STEP_NODES and _STEP_NODES[s["action"]].lower() in wired
    ]
    used = [entities[s["entity"]] for s in steps if s["name"] in mapped and s.get("entity") in entities]
    payload = {e.snake: entity_context(e)["valid_json"] for e in used}
    stored = []
    effect = first.get("EFFECT")
    for s in steps:
        if s["name"] in mapped and s.get("action") == "create" and effect is not None:
            read = next((e["ops"].read for e in effect["crud"] if e["name"] == s.get("entity")), None)
            if read is not None:
                snake = entities[s["entity"]].snake
                stored.append({"effect": effect["attribute"], "read": read, "id": f"{snake}-1"})
    return {
        "collaborators": collaborators,
        "mapped": sorted(mapped),
        "order": order,
        "payload": pyrepr(payload),
        "stored": stored,
    }

"""The OpenAPI schema: unique operation ids, every 4xx documented with a problem schema, docs reachable."""

from __future__ import annotations


async def test_schema_is_complete(client):
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200
    schema = r.json()
    op_ids = []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            assert op.get("operationId"), f"{method} {path} has no operationId"
            assert op["operationId"][0].isupper(), op["operationId"]
            assert op.get("summary"), f"{method} {path} has no summary"
            assert op.get("tags"), f"{method} {path} has no tags"
            op_ids.append(op["operationId"])
            for status, response in op["responses"].items():
                if status.startswith("4"):
                    content = response.get("content", {})
                    assert "application/problem+json" in content, f"{method} {path} {status}"
                    assert content["application/problem+json"].get("schema"), f"{method} {path} {status}"
            for param in op.get("parameters", []):
                assert param.get("description"), f"{method} {path} parameter {param['name']} undocumented"
    assert len(op_ids) == len(set(op_ids)), "duplicate operationIds"
    assert {"CreateMerchant", "CreateApiKey", "RevokeApiKey", "ListLedgerAccounts", "CreateOperator"} <= set(op_ids)


async def test_write_endpoints_document_idempotency_key(client):
    schema = (await client.get("/schema/openapi.json")).json()
    create = schema["paths"]["/admin/v1/merchants"]["post"]
    assert "Idempotency-Key" in {p["name"] for p in create["parameters"]}


async def test_docs_lead_to_the_interactive_ui(client):
    r = await client.get("/docs", follow_redirects=False)
    assert r.status_code in (302, 307)
    assert r.headers["location"].endswith("/schema/swagger")
    assert (await client.get("/schema/swagger")).status_code == 200

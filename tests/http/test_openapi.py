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


async def test_public_operations_need_no_key(client):
    schema = (await client.get("/schema/openapi.json")).json()
    assert schema["security"] == [{"ApiKey": []}]
    for path in ("/health", "/ready"):
        assert schema["paths"][path]["get"]["security"] == []
    assert "503" in schema["paths"]["/ready"]["get"]["responses"]


async def test_request_bodies_state_what_the_strict_decoder_enforces(client):
    schema = (await client.get("/schema/openapi.json")).json()
    components = schema["components"]["schemas"]
    for path, item in schema["paths"].items():
        for method, op in item.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            for ref in [body.get("$ref"), *(branch.get("$ref") for branch in body.get("oneOf", []))]:
                if ref is not None:
                    assert components[ref.rsplit("/", 1)[1]]["additionalProperties"] is False, f"{method} {path}"
    # A Field(pattern=…) reaches the schema (Litestar reads patterns only from StringConstraints).
    assert components["ItemIn"]["properties"]["ref"]["pattern"] == r"^[\x21-\x7e]+$"
    assert components["SubscriptionCreate"]["properties"]["plan_id"]["pattern"] == r"^[\x21-\x7e]+$"


async def test_files_are_documented_with_their_media_types(client):
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    report = paths["/admin/v1/reports/ar-aging"]["get"]["responses"]["200"]["content"]
    assert set(report) == {"application/json", "text/csv"}
    export = paths["/admin/v1/exports/journal"]["get"]["responses"]["200"]["content"]
    assert set(export) == {"text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


async def test_parameters_state_their_grammar_and_reads_their_422s(client):
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    for path, item in paths.items():
        for method, op in item.items():
            params = op.get("parameters", [])
            for param in params:
                if param["in"] == "path" or param["name"] == "starting_after":
                    assert param["schema"].get("pattern"), f"{method} {path} {param['name']}"
            if params:
                assert "422" in op["responses"], f"{method} {path}"
    assert "409" in paths["/v1/orders/{order_id}/invoice-print-data"]["get"]["responses"]
    assert "409" in paths["/platform/v1/billing/issuer"]["get"]["responses"]

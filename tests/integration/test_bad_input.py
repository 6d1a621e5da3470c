async def test_probe(client, tenant, admin_headers):
    h = tenant.headers
    async def gen():
        for _ in range(20):
            yield b"x" * 65536
    cases = [
        ("GET", "/", {}),
        ("GET", "/items?status=DONE", dict(headers=h)),
        ("POST", "/items", dict(content=gen(), headers={**h, "content-type": "application/json"})),
        ("POST", "/items", dict(content=b"{}", headers={**h, "content-type": "application/json", "content-length": str(10**20)})),
        ("POST", "/items", dict(content=b"{}", headers={**h, "content-type": "application/json", "content-length": "abc"})),
        ("GET", "/items", dict(headers={"X-TOKEN": "   "})),
        ("POST", "/items", dict(json={"title": "  " + "a" * 200 + "  "}, headers=h)),
        ("POST", "/items", dict(content='{"title": "é"}'.encode("latin-1"), headers={**h, "content-type": "application/json; charset=latin-1"})),
        ("POST", "/items", dict(content=b'<item><title>a</title></item>', headers={**h, "content-type": "application/xml"})),
        ("POST", "/items", dict(files={"title": ("a.txt", b"a")}, headers=h)),
        ("POST", "/health", {}),
        ("DELETE", "/admin/tenants", dict(headers=admin_headers)),
        ("POST", "/items/00000000-0000-0000-0000-000000000000", dict(headers=h, json={"title": "a"})),
        ("GET", "/items/00000000-0000-0000-0000-00000000000g", dict(headers=h)),
        ("GET", "/items/%C3%A9", dict(headers=h)),
        ("GET", "/items/x/y", dict(headers=h)),
        ("GET", "/admin/tenants", dict(headers={**admin_headers, "X-ADMIN-KEY": tenant.token})),
        ("GET", "/admin/tenants", dict(headers={"X-ADMIN-KEY": admin_headers["X-ADMIN-KEY"] + " "})),
        ("GET", "/admin/tenants", dict(headers={"X-ADMIN-KEY": admin_headers["X-ADMIN-KEY"].upper()})),
        ("GET", "/admin/tenants", dict(headers={"x-admin-key": admin_headers["X-ADMIN-KEY"]})),
    ]
    for m, u, kw in cases:
        try:
            r = await client.request(m, u, **kw)
            print("##", m, u[:60], "->", r.status_code, r.headers.get("content-type"), r.headers.get("allow"), r.text[:250])
        except Exception as e:
            print("##", m, u, "EXC", repr(e))

"""``GET /docs``: browsable documentation of ``/openapi.json``, served from
this process with nothing loaded from elsewhere (no CDN): one small page whose
script fetches the document and lists every operation with its parameters,
request body, responses and schemas. Written here rather than vendoring
swagger-ui or redoc (about 1 MB of JavaScript) because reading the document
is all operators need; "try it" is a ``curl`` away."""

from __future__ import annotations

import base64
import hashlib

from aiohttp import web

_SCRIPT = r"""
const $ = (tag, attrs = {}, ...kids) => {
  const el = document.createElement(tag);
  Object.entries(attrs).forEach(([k, v]) => el.setAttribute(k, v));
  kids.flat().forEach(k => el.append(k instanceof Node ? k : String(k)));
  return el;
};
let doc;
const resolve = (schema, depth = 0) => {
  if (!schema || depth > 8) return schema;
  if (schema.$ref) return resolve(doc.components.schemas[schema.$ref.split("/").pop()], depth + 1);
  if (Array.isArray(schema)) return schema.map(s => resolve(s, depth + 1));
  if (typeof schema !== "object") return schema;
  return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, resolve(v, depth + 1)]));
};
const schemaBlock = (schema) => $("details", {}, $("summary", {}, schema && schema.$ref ?
  schema.$ref.split("/").pop() : "schema"), $("pre", {}, JSON.stringify(resolve(schema), null, 2)));
const operation = (path, method, op) => {
  const box = $("section", {class: "op", id: op.operationId});
  box.append($("h3", {}, $("span", {class: "m " + method}, method.toUpperCase()), " ", path));
  box.append($("p", {}, op.summary || ""));
  if ((op.security || []).length) box.append($("p", {class: "auth"},
    "Authorization: Bearer <" + Object.keys(op.security[0])[0] + ">"));
  if ((op.parameters || []).length) box.append($("table", {},
    $("tr", {}, $("th", {}, "parameter"), $("th", {}, "in"), $("th", {}, "schema")),
    op.parameters.map(p => $("tr", {}, $("td", {}, p.name + (p.required ? " *" : "")),
      $("td", {}, p.in), $("td", {}, $("code", {}, JSON.stringify(p.schema)))))));
  if (op.requestBody) Object.entries(op.requestBody.content).forEach(([type, c]) =>
    box.append($("div", {}, $("b", {}, "body " + type), schemaBlock(c.schema))));
  Object.entries(op.responses).forEach(([status, r]) => {
    const row = $("div", {class: "resp"}, $("b", {}, status), " " + (r.description || ""));
    Object.entries(r.content || {}).forEach(([type, c]) =>
      row.append($("div", {}, $("i", {}, type), c.schema ? schemaBlock(c.schema) : "")));
    box.append(row);
  });
  return box;
};
fetch("/openapi.json").then(r => r.json()).then(d => {
  doc = d;
  const main = document.getElementById("main");
  main.replaceChildren($("h1", {}, d.info.title + " " + d.info.version),
                       $("p", {}, d.info.description || ""));
  const byTag = {};
  Object.entries(d.paths).forEach(([path, item]) => Object.entries(item).forEach(([m, op]) =>
    (byTag[(op.tags || ["other"])[0]] ||= []).push([path, m, op])));
  Object.entries(byTag).forEach(([tag, ops]) => {
    main.append($("h2", {}, tag));
    ops.forEach(([p, m, op]) => main.append(operation(p, m, op)));
  });
}).catch(e => { document.getElementById("main").textContent = "cannot load /openapi.json: " + e; });
"""

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 60rem; padding: 1rem; }
.op { border: 1px solid #ccc; border-radius: 6px; margin: .8rem 0; padding: .2rem .9rem .6rem; }
.m { font: bold 13px monospace; padding: 2px 6px; border-radius: 4px; color: #fff;
     background: #555; }
.get { background: #2a7ab0; } .post { background: #2e8b57; } .put { background: #b8860b; }
.delete { background: #b22222; } .auth { color: #666; font-size: 13px; }
table { border-collapse: collapse; font-size: 13px; }
td, th { border: 1px solid #ddd; padding: 2px 6px; }
pre { background: #f6f6f6; padding: .5rem; overflow: auto; font-size: 12px; }
.resp { margin: .3rem 0; }
"""

_PAGE = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>tidings HTTP API"
         f"</title><style>{_STYLE}</style></head><body><main id=main>loading /openapi.json"
         f"</main><script>{_SCRIPT}</script></body></html>")


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


# Only this page's own script and style may run, and it may only fetch from here.
_CSP = (f"default-src 'none'; script-src {_hash(_SCRIPT)}; style-src {_hash(_STYLE)}; "
        "connect-src 'self'; frame-ancestors 'none'")


async def serve(request: web.Request) -> web.Response:
    return web.Response(text=_PAGE, content_type="text/html", headers={
        "Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff"})

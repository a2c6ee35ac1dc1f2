"""Expands a JSON-LD file with pyld (a standard JSON-LD processor) and prints what the tests
check: the number of top-level nodes in and out, and every @type IRI found, as JSON.

Fetching remote contexts is refused, so the document must carry its context inline."""

import json
import sys

from pyld import jsonld


def refuse(url, options=None):
    raise RuntimeError("the document tried to load " + url)


def types(value, found):
    if isinstance(value, dict):
        for t in value.get("@type", []) if isinstance(value.get("@type"), list) else []:
            found.add(t)
        for v in value.values():
            types(v, found)
    elif isinstance(value, list):
        for v in value:
            types(v, found)


doc = json.load(open(sys.argv[1], encoding="utf-8"))
jsonld.set_document_loader(refuse)
expanded = jsonld.expand(doc)
graph = expanded[0]["@graph"] if len(expanded) == 1 and "@graph" in expanded[0] else expanded
found = set()
types(expanded, found)
decimals = 0
for node in json.dumps(expanded).split('"@type": "http://www.w3.org/2001/XMLSchema#decimal"')[1:]:
    decimals += 1
print(json.dumps({
    "nodes_in": len(doc["@graph"]),
    "nodes_out": len(graph),
    "types": sorted(found),
    "decimals": decimals,
}))

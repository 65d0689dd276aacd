"""Derive a JSON Schema (2020-12) for one OCSF class from the OCSF schema
repository at a tag: the class's attributes (its `extends` chain, without
profiles), each object's attributes likewise, types from the dictionary,
`requirement: required` as required, *_id enums as enums, unknown members
refused (OCSF puts those in `unmapped`)."""
import json, subprocess, sys
REPO, TAG, CLASS = sys.argv[1], sys.argv[2], sys.argv[3]
def show(path):
    try: return json.loads(subprocess.check_output(["git","-C",REPO,"show",f"{TAG}:{path}"], stderr=subprocess.DEVNULL))
    except subprocess.CalledProcessError: return None
dictionary = show("dictionary.json")
dattrs, dtypes = dictionary["attributes"], dictionary["types"]["attributes"]
ls = subprocess.check_output(["git","-C",REPO,"ls-tree","-r","--name-only",TAG]).decode().split()
by_name = {}
for p in ls:
    if p.endswith(".json") and (p.startswith("objects/") or p.startswith("events/")):
        d = show(p)
        if d and "name" in d: by_name.setdefault(("o" if p.startswith("objects/") else "e", d["name"]), d)
def merged(kind, name):
    d = by_name[(kind, name)]
    chain = []
    while d:
        chain.append(d)
        ext = d.get("extends")
        d = by_name.get((kind, ext)) if ext and ext not in ("object",) else None
    attrs, constraints = {}, {}
    for d in reversed(chain):
        for inc in d.get("attributes", {}).get("$include", []):
            if inc.startswith("profiles/"): continue
            for k, v in show(inc).get("attributes", {}).items():
                if not k.startswith("$"): attrs.setdefault(k, {}).update(v)
        for k, v in d.get("attributes", {}).items():
            if k.startswith("$"): continue
            attrs.setdefault(k, {}).update(v)
        constraints.update(d.get("constraints") or {})
    return chain[0], {k: v for k, v in attrs.items() if not v.get("@deprecated") or True}, constraints
def base(t):
    while t in dtypes and dtypes[t].get("type"): t = dtypes[t]["type"]
    return {"string_t":"string","integer_t":"integer","long_t":"integer","float_t":"number","boolean_t":"boolean","json_t":None}.get(t, "string")
defs, todo = {}, []
def attr_schema(name, spec):
    d = dict(dattrs.get(name, {})); d.update(spec)
    t = d.get("type")
    if t == "object": s = {"type": "object"}
    elif t == "json_t": s = {}
    elif (("o", t) in by_name):
        if t not in defs and t not in todo: todo.append(t)
        s = {"$ref": f"#/$defs/{t}"}
    else:
        bt = base(t)
        s = {"type": bt} if bt else {}
        if "enum" in d and name.endswith("_id"):
            s["enum"] = sorted(int(k) for k in d["enum"])
    if d.get("is_array"): s = {"type": "array", "items": s}
    return s
def obj_schema(kind, name):
    top, attrs, cons = merged(kind, name)
    props = {k: attr_schema(k, v) for k, v in sorted(attrs.items())}
    s = {"type": "object", "properties": props, "additionalProperties": False}
    req = sorted(k for k, v in attrs.items() if v.get("requirement") == "required")
    if req: s["required"] = req
    if cons.get("at_least_one"): s["anyOf"] = [{"required": [k]} for k in cons["at_least_one"]]
    if cons.get("just_one"): s["oneOf"] = [{"required": [k]} for k in cons["just_one"]]
    return top, s
top, event = obj_schema("e", CLASS)
cat = show("categories.json")["attributes"][top.get("category") or by_name[("e", top["extends"])].get("category")]
class_uid = cat["uid"] * 1000 + top["uid"]
acts = sorted(int(k) for k in merged("e", CLASS)[1]["activity_id"].get("enum", dattrs["activity_id"].get("enum", {})))
event["properties"]["class_uid"] = {"const": class_uid}
event["properties"]["category_uid"] = {"const": cat["uid"]}
event["properties"]["type_uid"] = {"enum": [class_uid * 100 + a for a in acts]}
while todo:
    n = todo.pop(0)
    defs[n] = obj_schema("o", n)[1]
version = show("version.json")["version"]
out = {"$schema": "https://json-schema.org/draft/2020-12/schema",
       "$id": f"urn:runsheet:ocsf:{CLASS}:{version}",
       "title": f"OCSF {version} {top['caption']} (class_uid {class_uid}), derived",
       "description": f"Derived mechanically from github.com/ocsf/ocsf-schema tag {TAG} (commit {subprocess.check_output(['git','-C',REPO,'rev-parse',TAG+'^{commit}']).decode().strip()}): the class's attributes and those of every object it reaches, following `extends`, without profiles; types from dictionary.json; `requirement: required` members are required; *_id enums are enums; members OCSF does not define are refused (they belong in `unmapped`). See docs/siem-feed.md.",
       **event, "$defs": dict(sorted(defs.items()))}
json.dump(out, sys.stdout, indent=2); print()

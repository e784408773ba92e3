#!/usr/bin/python3
"""Validate a JSON file against a JSON Schema (draft 2020-12 or draft-07).

    /usr/bin/python3 tests/e2e/validate_json.py SCHEMA FILE

FILE may be "-" for stdin. Exit status: 0 valid; 1 invalid, or FILE is not strict JSON
(the errors go to stderr); 2 usage error or a bad schema.

Stricter than plain jsonschema in two ways that matter for edgeq's reports:
  * "integer" means a JSON integer literal: 3.0 is a number, not an integer (jsonschema
    would accept it), so a byte count written as a float is caught;
  * the document must be strict JSON: duplicate keys, NaN and Infinity are rejected.
"""

import json
import sys

import jsonschema
from jsonschema import validators


def fail(message, code=1):
    print(f"validate_json: {message}", file=sys.stderr)
    sys.exit(code)


def strict_object(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def load_json(path, what):
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        fail(f"cannot read {what} {path}: {e}", 1 if what == "document" else 2)
    try:
        return json.loads(text, object_pairs_hook=strict_object, parse_constant=reject_constant)
    except ValueError as e:
        fail(f"{what} {path} is not valid JSON: {e}", 1 if what == "document" else 2)


def is_strict_integer(_checker, instance):
    return isinstance(instance, int) and not isinstance(instance, bool)


def json_path(error):
    path = "$"
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def main(argv):
    if len(argv) != 3 or argv[1] in ("-h", "--help"):
        fail("usage: validate_json.py SCHEMA FILE", 2)
    schema_path, doc_path = argv[1], argv[2]
    schema = load_json(schema_path, "schema")
    document = load_json(doc_path, "document")

    base = validators.validator_for(schema, default=None)
    if base is None:
        fail(f"schema {schema_path} names no known $schema dialect", 2)
    try:
        base.check_schema(schema)
    except jsonschema.exceptions.SchemaError as e:
        fail(f"schema {schema_path} is not a valid schema: {e.message} at {list(e.absolute_path)}", 2)

    type_checker = base.TYPE_CHECKER.redefine("integer", is_strict_integer)
    validator_class = validators.extend(base, type_checker=type_checker)
    validator = validator_class(schema)

    errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    if not errors:
        return 0
    print(f"validate_json: {doc_path} does not match {schema_path} ({len(errors)} error(s)):",
          file=sys.stderr)
    for error in errors[:20]:
        detail = error.message
        if error.context:  # anyOf/oneOf: show why each branch failed
            detail += " [" + "; ".join(sorted({c.message for c in error.context}))[:500] + "]"
        print(f"  {json_path(error)}: {detail}", file=sys.stderr)
    if len(errors) > 20:
        print(f"  ... and {len(errors) - 20} more", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))

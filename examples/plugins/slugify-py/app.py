"""A devlog workflow action written in Python: `slugify` turns a title into a branch-safe slug."""
import json
import re
import unicodedata

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import actions
from wit_world.imports import log, types

INPUT = {"type": "object", "required": ["text"], "additionalProperties": False,
         "properties": {"text": {"type": "string", "maxLength": 1000},
                        "prefix": {"type": "string", "maxLength": 40}}}
OUTPUT = {"type": "object", "required": ["slug"], "properties": {"slug": {"type": "string"}}}


class Actions(exports.Actions):
    def list_actions(self):
        return [actions.Action(name="slugify",
                               description="A lowercase, dash-separated slug of a text",
                               input_schema=json.dumps(INPUT), output_schema=json.dumps(OUTPUT))]

    def run(self, name, input):
        if name != "slugify":
            raise Err(types.PluginError(kind=types.ErrorKind.PERMANENT,
                                        message=f"no action {name!r}", retry_after_ms=None))
        args = json.loads(input)
        text = unicodedata.normalize("NFKD", args["text"]).encode("ascii", "ignore").decode()
        slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "entry"
        if args.get("prefix"):
            slug = f"{args['prefix']}{slug}"
        log.log(log.Level.DEBUG, f"slugified {len(args['text'])} characters")
        return json.dumps({"slug": slug})

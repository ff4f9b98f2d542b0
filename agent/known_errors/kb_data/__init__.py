"""The starter known-error KB: one YAML file per domain, read by ``load_kb()``."""

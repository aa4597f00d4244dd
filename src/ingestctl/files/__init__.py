"""Files ingestctl writes: atomic private writes (fs.py), the audit log (audit.py), and
checksummed YAML documents (documents.py), which checkpoints and plan files share."""

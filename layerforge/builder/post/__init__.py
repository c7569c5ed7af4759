"""Post-processing of an installed tree: prune and strip, bytecode, RECORD files, and the bytes
each distribution takes."""

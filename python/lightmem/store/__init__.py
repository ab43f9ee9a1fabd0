"""The long-term store's implementation; import it from `lightmem.long_term`."""

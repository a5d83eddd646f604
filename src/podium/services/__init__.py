"""Actions: load, apply the rules, persist, then publish. Only services write and publish."""

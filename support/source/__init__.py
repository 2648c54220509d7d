"""The source document: a verbatim copy of the Chinese Q&A text whose claims the spec checks."""

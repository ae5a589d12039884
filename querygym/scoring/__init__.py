"""Judging answers: table comparison under documented semantics, the grading of analysts'
reports, and the document corpus reports cite."""

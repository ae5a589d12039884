"""A third-party dialect in a dozen lines: SQLite, with every compiled statement tagged.

Installed, it is found through the ``querygym.dialects`` entry point, with no change to
querygym: ``gymnasium.make("querygym/QueryGym-v0", dialect="sqlite-traced")``.
"""

from querygym.dialects.sqlite import SQLiteDialect

TAG = "/* querygym-sqlite-traced */"


class TracedSQLite(SQLiteDialect):
    name = "sqlite-traced"
    #: every statement this dialect rendered in this process
    rendered: list = []

    def render(self, expression, *, pretty=False):
        sql = f"{TAG}\n{super().render(expression, pretty=pretty)}"
        type(self).rendered.append(sql)
        return sql

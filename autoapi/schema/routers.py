"""Database router: the dynamic models read the published database, nothing ever migrates it
(nor any of its read replicas)."""

from autoapi.conf import DATABASE_ALIAS

DYNAMIC_APP_LABEL = "published"


class PublishedDatabaseRouter:
    def db_for_read(self, model, **hints):
        if model._meta.app_label == DYNAMIC_APP_LABEL:
            return DATABASE_ALIAS
        return None

    def db_for_write(self, model, **hints):
        # Nothing writes; answering the read alias keeps any accidental write on the
        # read-only connection, where PostgreSQL refuses it.
        return self.db_for_read(model, **hints)

    def allow_migrate(self, db, app_label, **hints):
        return db != DATABASE_ALIAS and not db.startswith("replica_") and app_label != DYNAMIC_APP_LABEL

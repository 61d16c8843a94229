-- Optional: make the portal see schema changes at once, instead of at its next poll.
--
-- Run once, as a superuser (only superusers may create event triggers), in the published
-- database. After every DDL command (CREATE, ALTER, DROP, COMMENT, GRANT, REVOKE, ...) it sends
-- NOTIFY portal_schema_changed; every portal process LISTENs on that channel (the setting
-- PORTAL_NOTIFY_CHANNEL) and checks its fingerprint at once. The portal works without it.
CREATE OR REPLACE FUNCTION public.portal_notify_schema_change() RETURNS event_trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('portal_schema_changed', tg_tag);
END
$$;

DROP EVENT TRIGGER IF EXISTS portal_schema_changed_ddl;
CREATE EVENT TRIGGER portal_schema_changed_ddl ON ddl_command_end
    EXECUTE FUNCTION public.portal_notify_schema_change();

DROP EVENT TRIGGER IF EXISTS portal_schema_changed_drop;
CREATE EVENT TRIGGER portal_schema_changed_drop ON sql_drop
    EXECUTE FUNCTION public.portal_notify_schema_change();

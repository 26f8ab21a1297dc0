-- Every replica keeps the directory in memory (asurso_directory::memory):
-- each change to these tables is told on the channel `asurso_directory`,
-- delivered when the writing transaction commits. Payloads:
--   revoked <grant>            a grant revoked
--   linked <parent> <student>  a guardian linked
--   unlinked <parent> <student>
--   unit <org unit>            an org unit added or renamed
--   cells <org unit>           a rights cell of the unit set

CREATE OR REPLACE FUNCTION asurso_directory_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'known_grants' THEN
        IF NEW.revoked THEN
            PERFORM pg_notify('asurso_directory', 'revoked ' || NEW.id);
        END IF;
    ELSIF TG_TABLE_NAME = 'guardians' THEN
        IF TG_OP = 'DELETE' THEN
            PERFORM pg_notify('asurso_directory', 'unlinked ' || OLD.parent_id || ' ' || OLD.student_id);
        ELSE
            PERFORM pg_notify('asurso_directory', 'linked ' || NEW.parent_id || ' ' || NEW.student_id);
        END IF;
    ELSIF TG_TABLE_NAME = 'known_org_units' THEN
        PERFORM pg_notify('asurso_directory', 'unit ' || NEW.id);
    ELSIF TG_TABLE_NAME = 'right_cells' THEN
        IF TG_OP = 'DELETE' THEN
            PERFORM pg_notify('asurso_directory', 'cells ' || OLD.org_unit_id);
        ELSE
            PERFORM pg_notify('asurso_directory', 'cells ' || NEW.org_unit_id);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER asurso_directory_grants AFTER INSERT OR UPDATE ON known_grants
    FOR EACH ROW EXECUTE FUNCTION asurso_directory_notify();
CREATE OR REPLACE TRIGGER asurso_directory_guardians AFTER INSERT OR DELETE ON guardians
    FOR EACH ROW EXECUTE FUNCTION asurso_directory_notify();
CREATE OR REPLACE TRIGGER asurso_directory_units AFTER INSERT OR UPDATE ON known_org_units
    FOR EACH ROW EXECUTE FUNCTION asurso_directory_notify();
CREATE OR REPLACE TRIGGER asurso_directory_cells AFTER INSERT OR UPDATE OR DELETE ON right_cells
    FOR EACH ROW EXECUTE FUNCTION asurso_directory_notify();

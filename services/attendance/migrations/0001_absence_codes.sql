-- The dictionary of absence codes: every region's (region_id NULL), then a
-- region's own.
CREATE TABLE absence_codes (
    code         text    NOT NULL,
    region_id    uuid,
    name         text    NOT NULL,
    valid_reason boolean NOT NULL,
    late         boolean NOT NULL DEFAULT false,
    position     integer NOT NULL
);

CREATE UNIQUE INDEX absence_codes_region_code
    ON absence_codes (COALESCE(region_id, '00000000-0000-0000-0000-000000000000'), code);

INSERT INTO absence_codes (code, name, valid_reason, late, position) VALUES
    ('УП',  'по уважительной причине',    true,  false, 1),
    ('Б',   'по болезни',                 true,  false, 2),
    ('НП',  'без уважительной причины',   false, false, 3),
    ('ОП',  'опоздание',                  false, true,  4),
    ('ОСВ', 'освобождён от урока',        true,  false, 5),
    ('ОТ',  'другое',                     false, false, 6);

-- What a school publishes about itself (its "card"): read by anyone, kept
-- by its administration. One row per school once someone fills it in.
CREATE TABLE school_cards (
    school_id             uuid PRIMARY KEY REFERENCES org_units (id),
    short_name            text NOT NULL DEFAULT '',
    about                 text NOT NULL DEFAULT '',
    legal_address         text NOT NULL DEFAULT '',
    postal_address        text NOT NULL DEFAULT '',
    email                 text NOT NULL DEFAULT '',
    website               text NOT NULL DEFAULT '',
    phones                text NOT NULL DEFAULT '',
    director              text NOT NULL DEFAULT '',
    deputy_administration text NOT NULL DEFAULT '',
    deputy_it             text NOT NULL DEFAULT '',
    deputy_education      text NOT NULL DEFAULT '',
    updated_at            timestamptz NOT NULL DEFAULT now(),
    updated_by            uuid REFERENCES people (id)
);

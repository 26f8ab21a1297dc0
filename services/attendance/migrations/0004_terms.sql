-- The terms of each school year, from the gradebook's events: a lesson's
-- attendance is corrected only while its term is open.
CREATE TABLE terms (
    school_year_id uuid    NOT NULL,
    number         integer NOT NULL,
    start_date     date    NOT NULL,
    end_date       date    NOT NULL,
    PRIMARY KEY (school_year_id, number)
);

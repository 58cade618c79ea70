-- Pillars storage, schema version 1: the registry of kinds, the event log and
-- its sequence. Document tables are created per kind by Register; number
-- sequences are created on first use by NextSequence.
-- {{schema}} is replaced by the quoted namespace.

CREATE TABLE {{schema}}._kinds (
    kind          text COLLATE "C" PRIMARY KEY,
    fields        jsonb NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now()
);

-- CACHE 1 (the default) is required: every session must draw from one
-- counter, so that a value drawn later is always larger.
CREATE SEQUENCE {{schema}}._event_seq CACHE 1;

CREATE TABLE {{schema}}._events (
    seq            bigint PRIMARY KEY DEFAULT nextval('{{schema}}._event_seq'),
    id             text NOT NULL,
    kind           text COLLATE "C" NOT NULL,
    record_id      text COLLATE "C" NOT NULL,
    number         text NOT NULL,
    record_version bigint NOT NULL,
    name           text NOT NULL,
    from_state     text NOT NULL,
    to_state       text NOT NULL,
    actor          text NOT NULL,
    at_us          bigint NOT NULL,
    recorded_at_us bigint NOT NULL,
    reason         text NOT NULL,
    changes        text,
    prev_hash      text NOT NULL,
    hash           text NOT NULL
);

CREATE INDEX _events_record ON {{schema}}._events (kind, record_id, record_version, seq);

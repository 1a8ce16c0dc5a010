CREATE TABLE notes (
    id         bigserial PRIMARY KEY,
    title      text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body       text NOT NULL DEFAULT '' CHECK (length(body) <= 5000),
    created_at timestamptz NOT NULL DEFAULT now()
);

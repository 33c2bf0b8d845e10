-- webhook_metrics as the minute history of the processing metrics (shared/metrics/history.ts): the
-- metrics job writes one row per minute with events for each series it keeps, every owner's
-- together (`all`), one owner's (`owner:<owner>`) and one webhook config's (`config:<id>`), per
-- provider. Additive: the table was never written before, and rows without a series (none) never
-- collide with the unique key below (NULLs are distinct).

ALTER TABLE webhook_metrics
  ADD COLUMN series text,
  ADD COLUMN owner_id text,
  ADD COLUMN config_id text,
  ADD COLUMN minute timestamptz;

CREATE UNIQUE INDEX webhook_metrics_series_provider_minute_idx ON webhook_metrics (series, provider, minute);

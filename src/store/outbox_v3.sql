-- Version 3: leases live in memory. A delivery thread holds what it takes in memory: a lease
-- never outlived the process (start-up released them all), and writing one cost a transaction
-- per batch.
--
-- (The due-deliveries index stays whole: with a partial index, SQLite plans every statement on
-- the table again each time a value is bound to it.)

ALTER TABLE deliveries DROP COLUMN lease;

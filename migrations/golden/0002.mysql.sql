-- Running upgrade 0001 -> 0002

ALTER TABLE product_variants MODIFY id BIGINT NOT NULL AUTO_INCREMENT;

ALTER TABLE order_items MODIFY id BIGINT NOT NULL AUTO_INCREMENT;

ALTER TABLE dead_letters ADD COLUMN message_hash CHAR(64);

ALTER TABLE dead_letters ADD COLUMN message_bytes BIGINT;

ALTER TABLE dead_letters DROP INDEX uq_dead_letters_source;

ALTER TABLE dead_letters ADD CONSTRAINT uq_dead_letters_source UNIQUE (topic, kafka_partition, kafka_offset, message_hash);

UPDATE alembic_version SET version_num='0002' WHERE alembic_version.version_num = '0001';


CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL, 
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

-- Running upgrade  -> 0001

CREATE TABLE dead_letters (
    id BIGINT NOT NULL AUTO_INCREMENT, 
    topic VARCHAR(249) COLLATE utf8mb4_nopad_bin NOT NULL, 
    kafka_partition INTEGER NOT NULL, 
    kafka_offset BIGINT NOT NULL, 
    kafka_key LONGBLOB, 
    raw_value LONGBLOB, 
    event_type VARCHAR(100), 
    event_id VARCHAR(100), 
    entity_id VARCHAR(100), 
    error_class VARCHAR(50) NOT NULL, 
    reason TEXT NOT NULL, 
    first_failed_at DATETIME(6) NOT NULL, 
    last_failed_at DATETIME(6) NOT NULL, 
    status VARCHAR(20) NOT NULL DEFAULT 'pending', 
    replayed_at DATETIME(6), 
    CONSTRAINT pk_dead_letters PRIMARY KEY (id), 
    CONSTRAINT uq_dead_letters_source UNIQUE (topic, kafka_partition, kafka_offset)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_unicode_ci;

CREATE INDEX idx_dead_letters_error_class ON dead_letters (error_class);

CREATE INDEX idx_dead_letters_first_failed ON dead_letters (first_failed_at);

CREATE INDEX idx_dead_letters_status ON dead_letters (status);

CREATE TABLE orders (
    order_id VARCHAR(24) COLLATE utf8mb4_nopad_bin NOT NULL, 
    order_number VARCHAR(50) COLLATE utf8mb4_nopad_bin NOT NULL, 
    customer_user_id VARCHAR(24) COLLATE utf8mb4_nopad_bin NOT NULL, 
    customer_display_name VARCHAR(200), 
    customer_email VARCHAR(255), 
    customer_phone VARCHAR(50), 
    shipping_recipient_name VARCHAR(200), 
    shipping_phone VARCHAR(50), 
    shipping_street_1 VARCHAR(200), 
    shipping_street_2 VARCHAR(200), 
    shipping_city VARCHAR(100), 
    shipping_state VARCHAR(100), 
    shipping_zip_code VARCHAR(20), 
    shipping_country VARCHAR(2), 
    status VARCHAR(20) NOT NULL, 
    created_at DATETIME(6) NOT NULL, 
    updated_at DATETIME(6) NOT NULL, 
    event_id VARCHAR(36), 
    event_timestamp DATETIME(6), 
    CONSTRAINT pk_orders PRIMARY KEY (order_id), 
    CONSTRAINT uq_order_number UNIQUE (order_number)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_unicode_ci;

CREATE INDEX idx_orders_created ON orders (created_at);

CREATE INDEX idx_orders_customer ON orders (customer_user_id);

CREATE INDEX idx_orders_status ON orders (status);

CREATE TABLE posts (
    post_id VARCHAR(24) COLLATE utf8mb4_nopad_bin NOT NULL, 
    post_type VARCHAR(20) NOT NULL, 
    author_user_id VARCHAR(24) COLLATE utf8mb4_nopad_bin NOT NULL, 
    author_display_name VARCHAR(200), 
    author_avatar TEXT, 
    author_type VARCHAR(20), 
    text_content TEXT, 
    media_json JSON, 
    link_url TEXT, 
    link_title VARCHAR(200), 
    link_description VARCHAR(500), 
    link_image TEXT, 
    link_site_name VARCHAR(200), 
    view_count INTEGER DEFAULT 0, 
    like_count INTEGER DEFAULT 0, 
    comment_count INTEGER DEFAULT 0, 
    share_count INTEGER DEFAULT 0, 
    save_count INTEGER DEFAULT 0, 
    engagement_rate DOUBLE DEFAULT 0, 
    last_comment_at DATETIME(6), 
    deleted_at DATETIME(6), 
    published_at DATETIME(6), 
    created_at DATETIME(6) NOT NULL, 
    updated_at DATETIME(6) NOT NULL, 
    event_id VARCHAR(36), 
    event_timestamp DATETIME(6), 
    CONSTRAINT pk_posts PRIMARY KEY (post_id)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_unicode_ci;

CREATE INDEX idx_posts_author ON posts (author_user_id);

CREATE INDEX idx_posts_created ON posts (created_at);

CREATE INDEX idx_posts_published ON posts (published_at);

CREATE INDEX idx_posts_type ON posts (post_type);

CREATE TABLE products (
    product_id VARCHAR(24) COLLATE utf8mb4_nopad_bin NOT NULL, 
    supplier_id VARCHAR(24) COLLATE utf8mb4_nopad_bin NOT NULL, 
    supplier_name VARCHAR(200), 
    name VARCHAR(200) NOT NULL, 
    short_description VARCHAR(500), 
    category VARCHAR(50) NOT NULL, 
    unit_type VARCHAR(20) NOT NULL, 
    base_sku VARCHAR(100), 
    brand VARCHAR(100), 
    base_price_cents INTEGER NOT NULL, 
    status VARCHAR(20) NOT NULL, 
    view_count INTEGER DEFAULT 0, 
    favorite_count INTEGER DEFAULT 0, 
    purchase_count INTEGER DEFAULT 0, 
    total_reviews INTEGER DEFAULT 0, 
    published_at DATETIME(6), 
    created_at DATETIME(6) NOT NULL, 
    updated_at DATETIME(6) NOT NULL, 
    event_id VARCHAR(36), 
    event_timestamp DATETIME(6), 
    CONSTRAINT pk_products PRIMARY KEY (product_id)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_unicode_ci;

CREATE INDEX idx_products_category ON products (category);

CREATE INDEX idx_products_created ON products (created_at);

CREATE INDEX idx_products_status ON products (status);

CREATE INDEX idx_products_supplier ON products (supplier_id);

CREATE TABLE suppliers (
    supplier_id VARCHAR(24) COLLATE utf8mb4_nopad_bin NOT NULL, 
    email VARCHAR(255) NOT NULL, 
    primary_phone VARCHAR(50) NOT NULL, 
    contact_person_name VARCHAR(200), 
    contact_person_title VARCHAR(200), 
    contact_person_email VARCHAR(255), 
    contact_person_phone VARCHAR(50), 
    legal_name VARCHAR(200) NOT NULL, 
    dba_name VARCHAR(200), 
    street_address_1 VARCHAR(200), 
    street_address_2 VARCHAR(200), 
    city VARCHAR(100), 
    state VARCHAR(100), 
    zip_code VARCHAR(20), 
    country VARCHAR(2), 
    support_email VARCHAR(255), 
    support_phone VARCHAR(50), 
    facebook_url TEXT, 
    instagram_handle VARCHAR(100), 
    twitter_handle VARCHAR(100), 
    linkedin_url TEXT, 
    timezone VARCHAR(50), 
    created_at DATETIME(6) NOT NULL, 
    updated_at DATETIME(6) NOT NULL, 
    event_id VARCHAR(36), 
    event_timestamp DATETIME(6), 
    CONSTRAINT pk_suppliers PRIMARY KEY (supplier_id)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_unicode_ci;

CREATE INDEX idx_suppliers_country ON suppliers (country, state, city);

CREATE INDEX idx_suppliers_email ON suppliers (email);

CREATE INDEX idx_suppliers_legal_name ON suppliers (legal_name);

CREATE TABLE tombstones (
    entity_table VARCHAR(30) NOT NULL, 
    entity_id VARCHAR(24) COLLATE utf8mb4_nopad_bin NOT NULL, 
    deleted_at DATETIME(6) NOT NULL, 
    event_id VARCHAR(36), 
    CONSTRAINT pk_tombstones PRIMARY KEY (entity_table, entity_id)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_unicode_ci;

CREATE TABLE users (
    user_id VARCHAR(24) COLLATE utf8mb4_nopad_bin NOT NULL, 
    email VARCHAR(255) NOT NULL, 
    phone VARCHAR(50), 
    display_name VARCHAR(100) NOT NULL, 
    avatar TEXT, 
    bio VARCHAR(500), 
    version INTEGER DEFAULT 1, 
    deleted_at DATETIME(6), 
    created_at DATETIME(6) NOT NULL, 
    updated_at DATETIME(6) NOT NULL, 
    event_id VARCHAR(36), 
    event_timestamp DATETIME(6), 
    CONSTRAINT pk_users PRIMARY KEY (user_id)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_unicode_ci;

CREATE INDEX idx_users_created ON users (created_at);

CREATE INDEX idx_users_email ON users (email);

CREATE TABLE order_items (
    id INTEGER NOT NULL AUTO_INCREMENT, 
    order_id VARCHAR(24) COLLATE utf8mb4_nopad_bin NOT NULL, 
    item_id VARCHAR(50) COLLATE utf8mb4_nopad_bin NOT NULL, 
    product_id VARCHAR(24) COLLATE utf8mb4_nopad_bin NOT NULL, 
    supplier_id VARCHAR(24) COLLATE utf8mb4_nopad_bin NOT NULL, 
    product_name VARCHAR(200), 
    variant_name VARCHAR(200), 
    variant_attributes_json JSON, 
    image_url TEXT, 
    supplier_name VARCHAR(200), 
    quantity INTEGER NOT NULL, 
    unit_price_cents INTEGER NOT NULL, 
    final_price_cents INTEGER NOT NULL, 
    total_cents INTEGER NOT NULL, 
    fulfillment_status VARCHAR(20), 
    shipped_quantity INTEGER DEFAULT 0, 
    tracking_number VARCHAR(100), 
    carrier VARCHAR(100), 
    shipped_at DATETIME(6), 
    delivered_at DATETIME(6), 
    CONSTRAINT pk_order_items PRIMARY KEY (id), 
    CONSTRAINT fk_items_order FOREIGN KEY(order_id) REFERENCES orders (order_id) ON DELETE CASCADE, 
    CONSTRAINT uq_order_item UNIQUE (order_id, item_id)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_unicode_ci;

CREATE INDEX idx_items_order ON order_items (order_id);

CREATE INDEX idx_items_product ON order_items (product_id);

CREATE TABLE product_variants (
    id INTEGER NOT NULL AUTO_INCREMENT, 
    product_id VARCHAR(24) COLLATE utf8mb4_nopad_bin NOT NULL, 
    variant_key VARCHAR(200) COLLATE utf8mb4_nopad_bin NOT NULL, 
    variant_id VARCHAR(100) COLLATE utf8mb4_nopad_bin NOT NULL, 
    variant_name VARCHAR(200) NOT NULL, 
    attributes_json JSON, 
    price_cents INTEGER NOT NULL, 
    cost_cents INTEGER, 
    quantity INTEGER DEFAULT 0, 
    width_cm DOUBLE, 
    height_cm DOUBLE, 
    depth_cm DOUBLE, 
    image_url TEXT, 
    CONSTRAINT pk_product_variants PRIMARY KEY (id), 
    CONSTRAINT fk_variants_product FOREIGN KEY(product_id) REFERENCES products (product_id) ON DELETE CASCADE, 
    CONSTRAINT uq_product_variant UNIQUE (product_id, variant_key)
)ENGINE=InnoDB CHARSET=utf8mb4 COLLATE utf8mb4_unicode_ci;

CREATE INDEX idx_variants_product ON product_variants (product_id);

INSERT INTO alembic_version (version_num) VALUES ('0001') RETURNING alembic_version.version_num;


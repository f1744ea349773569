"""pytest plugin: a redis-server of the tests' own on a free loopback port (owned by the Redis work)."""

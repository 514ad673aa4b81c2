"""Pure reporting logic: calendar buckets, indicators, small-cell suppression. No I/O."""

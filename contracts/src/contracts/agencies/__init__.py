"""Events published by the agency services on their updates topics."""

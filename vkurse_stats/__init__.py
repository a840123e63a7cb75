"""vkurse-stats: licence-usage analytics for VKurse."""

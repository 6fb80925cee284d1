"""The aiwatch Scrapy project: feed and article spiders feeding the knowledge base."""

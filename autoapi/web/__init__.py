"""The HTTP edge of the API: URLs, the viewset, the live registry of the published API, OpenAPI,
conditional requests and the page cache, compression, and links to the web pages."""

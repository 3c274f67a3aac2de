"""The portal: the web pages people use, and one origin in front of the service APIs."""

"""frontier.__main__"""
from frontier.cli.main import app

app()

import unittest

from greet import greet


class GreetTest(unittest.TestCase):
    def test_greets_by_name(self) -> None:
        self.assertEqual(greet("owner"), "Hello, owner!")

    def test_greets_anyone(self) -> None:
        self.assertTrue(greet("Ezra").startswith("Hello"))

"""Text helpers for the blog's URLs."""


def title_case(text: str) -> str:
    return " ".join(word.capitalize() for word in text.split())


# TODO(minion): implement slugify(): lowercase, every run of characters that are not ASCII
# letters or digits becomes one "-", and no "-" at either end ("Hello, World!" -> "hello-world").
def slugify(text: str) -> str:
    raise NotImplementedError

"""Journey: a customer company signs up, invites a co-worker, signs out and back in."""

import re

from playwright.sync_api import Page, expect


def test_customer_signs_up_invites_a_coworker_and_signs_back_in(page: Page, base_url: str):
    page.goto(f"{base_url}/signup")
    page.get_by_label("Company name").fill("Harbour Data Centre")
    page.get_by_label("Country").fill("Ireland")
    page.get_by_label("Your name").fill("Niamh Byrne")
    page.get_by_label("Email").fill("niamh@harbour.example")
    page.get_by_label("Password").fill("a long enough password")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_text("Harbour Data Centre").first).to_be_visible()

    page.get_by_role("link", name="Team", exact=True).click()
    invite = page.get_by_label("Co-worker's email")
    invite.fill("not-an-address")
    page.get_by_role("button", name="Send Invite").click()
    expect(page.get_by_text("You have entered an invalid email address. Please re-enter the email address.")).to_be_visible()
    expect(page.get_by_label("Co-worker's email")).to_have_value("not-an-address")

    page.get_by_label("Co-worker's email").fill("sean@harbour.example")
    page.get_by_role("button", name="Send Invite").click()
    expect(page.locator("#pending-invitations").get_by_text("sean@harbour.example")).to_be_visible()
    page.get_by_label("Co-worker's email").fill("sean@harbour.example")
    page.get_by_role("button", name="Send Invite").click()
    expect(page.get_by_text("This co-worker has already been invited to the upsconnect portal. Please invite another co-worker.")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Email").fill("niamh@harbour.example")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("The email or password is incorrect.")).to_be_visible()
    page.get_by_label("Password").fill("a long enough password")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dashboard$"))


def test_lab_clock_moves_forward_and_back(page: Page, base_url: str):
    page.goto(f"{base_url}/signup")
    page.get_by_label("Company name").fill("Clock Testers")
    page.get_by_label("Country").fill("Spain")
    page.get_by_label("Your name").fill("Lucia Perez")
    page.get_by_label("Email").fill("lucia@clock.example")
    page.get_by_label("Password").fill("a long enough password")
    page.get_by_role("button", name="Create account").click()
    page.get_by_role("link", name="Lab", exact=True).click()
    expect(page.locator("#lab-offset")).to_have_text("0 days")
    page.get_by_role("button", name="+30 days").click()
    expect(page.locator("#lab-offset")).to_have_text("30 days")
    page.get_by_role("button", name="Back to now").click()
    expect(page.locator("#lab-offset")).to_have_text("0 days")

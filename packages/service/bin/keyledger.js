#!/usr/bin/env node
// The bin is this committed file, not dist/cli/main.js itself: pnpm links a workspace bin only when
// its target exists at install time, and dist/ appears later (pnpm build), so `pnpm exec keyledger`
// in a fresh clone would otherwise find nothing.
import '../dist/cli/main.js';

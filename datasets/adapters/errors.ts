/**
 * Errors an import can end with that the user can fix (wrong folder, occupied output). The CLI prints their message
 * as one line and exits 1; anything else is a bug and keeps its stack.
 */
export class DatasetImportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export class SourceMissingError extends DatasetImportError {}
export class SourceLayoutError extends DatasetImportError {}
export class OutputNotEmptyError extends DatasetImportError {}

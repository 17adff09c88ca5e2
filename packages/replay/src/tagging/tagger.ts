// An intention tagger turns instructions into lists of normalised tags (InsCL's InsTag step).
export type Tagger = {
  readonly name: string;
  tag(instructions: string[]): Promise<string[][]>;
};
